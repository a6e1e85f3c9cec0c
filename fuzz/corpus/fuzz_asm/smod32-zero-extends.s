lddw %r0, 0xaaaaaaaafffffff9
smod32 %r0, 2
exit
