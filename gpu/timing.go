package gpu

import (
	"errors"
	"time"
)

// Time queues f's work between two device events and returns the time the
// device took for it, waiting for it to finish. It is how `vatgpu bench`
// times steps on the GPU: the device's own clock, without the host's
// launch latency.
func (b *Backend) Time(f func()) (time.Duration, error) {
	b.noCapture("Time")
	if b.err != nil {
		return 0, b.err
	}
	if b.dry != nil {
		f()
		return 0, errors.New("gpu: Time: no device (dry run)")
	}
	start, err := b.d.NewEvent()
	if err != nil {
		return 0, err
	}
	defer start.Close()
	end, err := b.d.NewEvent()
	if err != nil {
		return 0, err
	}
	defer end.Close()
	if err := start.Record(); err != nil {
		return 0, err
	}
	f()
	if b.err != nil {
		return 0, b.err
	}
	if err := end.Record(); err != nil {
		return 0, err
	}
	if err := end.Synchronize(); err != nil {
		return 0, err
	}
	return end.Since(start)
}
