mov %r0, 1
ja32 forward
back:
add %r0, 10
exit
forward:
add %r0, 100
ja32 back
