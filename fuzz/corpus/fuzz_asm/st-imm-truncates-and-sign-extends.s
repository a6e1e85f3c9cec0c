stdw [%r10-8], -2
ldxdw %r0, [%r10-8]
jne %r0, -2, fail
stdw [%r10-16], 0
sth [%r10-16], 0x12345
ldxdw %r0, [%r10-16]
jne %r0, 0x2345, fail
stb [%r10-16], 0x1ff
ldxdw %r0, [%r10-16]
jne %r0, 0x23ff, fail
mov %r0, 1
exit
fail:
mov %r0, 0
exit
