#include "qemu/osdep.h"

int qemu_main(int argc, char **argv);

int main(int argc, char **argv)
{
    return qemu_main(argc, argv);
}
