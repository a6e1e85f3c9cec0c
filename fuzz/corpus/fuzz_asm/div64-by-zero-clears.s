lddw %r0, 0xdeadbeefdeadbeef
mov %r1, 0
div %r0, %r1
exit
