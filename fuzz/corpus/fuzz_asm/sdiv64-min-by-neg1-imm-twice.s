lddw %r0, 0x8000000000000000
sdiv %r0, -1
mov %r1, %r0
smod %r1, -1
add %r0, %r1
exit
