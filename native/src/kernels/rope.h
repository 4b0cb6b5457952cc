// Declarations for the rope kernels (included inside namespace slm::<isa>; see isa.h).
