mov %r0, 0
call local f1
exit
f1:
call local f2
add %r0, 1
exit
f2:
call local f3
add %r0, 1
exit
f3:
call local f4
add %r0, 1
exit
f4:
call local f5
add %r0, 1
exit
f5:
call local f6
add %r0, 1
exit
f6:
call local f7
add %r0, 1
exit
f7:
mov %r0, 1
exit
