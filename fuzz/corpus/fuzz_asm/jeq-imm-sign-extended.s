lddw %r1, 0xffffffff80000000
mov %r0, 0
jne %r1, 0x80000000, out
mov32 %r2, %r1
jne32 %r2, 0x80000000, out
mov %r0, 1
out:
exit
