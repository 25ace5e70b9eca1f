/* main.c -- placeholder until the FUSE front end lands. */
#include "config.h"
int main(void) { return 0; }
