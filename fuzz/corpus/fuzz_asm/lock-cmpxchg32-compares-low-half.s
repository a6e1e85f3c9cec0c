stw [%r10-4], 5
lddw %r0, 0xffffffff00000005
mov %r1, 9
lock cmpxchg32 [%r10-4], %r1
jne %r0, 5, fail
ldxw %r2, [%r10-4]
jne %r2, 9, fail
mov %r0, 1
exit
fail:
mov %r0, 0
exit
