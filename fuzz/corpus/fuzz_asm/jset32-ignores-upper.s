lddw %r1, 0xffffffff00000000
mov %r0, 1
jset32 %r1, -1, fail
jset %r1, -1, ok
fail:
mov %r0, 0
ok:
exit
