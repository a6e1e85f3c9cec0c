lddw %r1, 0x11111111ffffffff
stxdw [%r10-8], %r1
lddw %r2, 0xaaaaaaaa00000001
lock fetch add32 [%r10-8], %r2
lddw %r4, 0xffffffff
jne %r2, %r4, fail
ldxdw %r0, [%r10-8]
lddw %r3, 0x1111111100000000
jne %r0, %r3, fail
mov %r0, 1
exit
fail:
mov %r0, 0
exit
