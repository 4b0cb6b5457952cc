// Declarations for the embed kernels (included inside namespace slm::<isa>; see isa.h).
