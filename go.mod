module github.com/vatgpu/vatgpu

go 1.26.8
