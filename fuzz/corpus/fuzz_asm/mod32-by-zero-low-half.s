lddw %r0, 0xffffffff00000009
lddw %r1, 0x100000000
mod32 %r0, %r1
exit
