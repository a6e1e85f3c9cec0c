stdw [%r10-8], 7
mov %r1, 11
lock xchg [%r10-8], %r1
ldxdw %r0, [%r10-8]
mul %r0, 100
add %r0, %r1
exit
