#include "qemu/osdep.h"
#include "migration/framework.h"
int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    return migration_test_run();
}
