lddw %r1, 0xffffffffffffff80
movsx832 %r0, %r1
exit
