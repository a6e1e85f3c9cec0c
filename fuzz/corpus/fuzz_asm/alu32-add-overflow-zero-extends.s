lddw %r0, 0xffffffffffffffff
add32 %r0, 2
exit
