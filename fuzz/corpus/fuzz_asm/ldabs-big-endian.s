ldabsb 0
mov %r6, %r0
ldabsh 1
lsh %r6, 16
or %r6, %r0
ldabsw 3
lsh %r6, 32
or %r0, %r6
exit
