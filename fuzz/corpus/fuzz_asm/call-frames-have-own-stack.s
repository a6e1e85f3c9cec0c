stdw [%r10-8], 1
mov %r1, %r10
call local f
ldxdw %r2, [%r10-8]
add %r0, %r2
exit
f:
stdw [%r10-8], 40
ldxdw %r0, [%r10-8]
ldxdw %r3, [%r1-8]
add %r0, %r3
exit
