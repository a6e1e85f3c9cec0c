lddw %r1, 0x1ffffffff
mov %r0, 0
jslt32 %r1, 0, neg
exit
neg:
mov %r0, 1
jsgt %r1, 0, pos
mov %r0, 0
pos:
exit
