stb [%r10-1], 0xff
sth [%r10-4], 0xfffe
stw [%r10-8], -3
ldxsb %r0, [%r10-1]
ldxsh %r1, [%r10-4]
ldxsw %r2, [%r10-8]
add %r0, %r1
add %r0, %r2
exit
