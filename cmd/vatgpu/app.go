package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vatgpu/vatgpu/vat"
)

// usageError marks an error as the user's: a bad flag or argument (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// commands returns vatgpu's commands.
func commands(stdout, stderr io.Writer) []*cli.Command {
	return []*cli.Command{
		trainCommand(stdout, stderr),
		evalCommand(stdout),
		devicesCommand(stdout),
		parityCommand(stdout),
		benchCommand(stdout, stderr),
		reproduceCommand(stdout, stderr),
		plotCommand(stdout),
		summaryCommand(stdout),
		adversarialCommand(stdout),
		predictCommand(os.Stdin, stdout, stderr),
	}
}

// run builds the app, runs it on args and turns its error into an exit
// code, printing one line to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:            "vatgpu",
		Usage:           "train MNIST networks with Virtual Adversarial Training on a GPU or the CPU",
		Commands:        commands(stdout, stderr),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided below
	}
	err := app.Run(flagsFirst(app.Commands, args))
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "vatgpu: "+strings.TrimSpace(firstLine(err.Error())))
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, vat.ErrUsage) || isFlagError(err) {
		return 2
	}
	return 1
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// isFlagError recognises urfave/cli's own parse errors, which it does not type.
func isFlagError(err error) bool {
	s := err.Error()
	for _, p := range []string{"flag provided but not defined", "invalid value", "flag needs an argument", "No help topic", "Required flag"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
