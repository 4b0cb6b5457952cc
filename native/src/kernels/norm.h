// Declarations for the norm kernels (included inside namespace slm::<isa>; see isa.h).
