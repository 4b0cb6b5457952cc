// Declarations for the attention kernels (included inside namespace slm::<isa>; see isa.h).
