lddw %r1, 0x123400008001
movsx1664 %r0, %r1
exit
