lddw %r1, 0x1122334455667788
mov %r0, %r1
le16 %r0
jne %r0, 0x7788, fail
mov %r0, %r1
le32 %r0
jne %r0, 0x55667788, fail
mov %r0, %r1
be16 %r0
jne %r0, 0x8877, fail
mov %r0, 1
exit
fail:
mov %r0, 0
exit
