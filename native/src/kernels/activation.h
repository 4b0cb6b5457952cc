// Declarations for the activation kernels (included inside namespace slm::<isa>; see isa.h).
