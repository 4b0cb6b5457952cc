// Declarations for the loss kernels (included inside namespace slm::<isa>; see isa.h).
