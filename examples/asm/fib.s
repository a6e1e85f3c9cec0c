# Iterative Fibonacci: r0 = fib(r1), r1 defaults to 0 when run without memory.
# Conformance-style assembly, as accepted by `xbpf asm`.
    mov %r1, 40
    mov %r0, 0
    mov %r2, 1
loop:
    jeq %r1, 0, done
    mov %r3, %r0
    add %r3, %r2
    mov %r0, %r2
    mov %r2, %r3
    sub %r1, 1
    ja loop
done:
    exit
