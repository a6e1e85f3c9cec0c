lddw %r0, 0xdeadbeef00000007
mov %r1, 0
mod32 %r0, %r1
exit
