lddw %r1, 0x8000000080000000
mov32 %r0, %r1
exit
