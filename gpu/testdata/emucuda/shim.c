// shim.c is every soname of the emulated GPU (libcuda.so.1, libcublas.so.12,
// libcudnn.so.9, ...): an empty library that needs libemucuda.so, where
// dlsym finds the functions. See internal/emucuda.
int emucuda_shim;
