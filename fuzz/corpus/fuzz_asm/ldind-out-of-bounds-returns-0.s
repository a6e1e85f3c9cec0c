mov %r0, 5
mov %r1, 2
ldindw %r1, 0
jne %r0, 0x33445566, fail
mov %r0, 7
mov %r1, 5
ldindw %r1, 0
fail:
mov %r0, 99
exit
