// Declarations for the optim kernels (included inside namespace slm::<isa>; see isa.h).
