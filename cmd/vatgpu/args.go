package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst returns args (the whole command line, program name first)
// with the flags of the command args[1] names moved before its other
// arguments, so that flags may follow files: `vatgpu plot out/vat.jsonl
// -o curves.png` becomes `vatgpu plot -o curves.png -- out/vat.jsonl`.
// urfave/cli v2 parses with Go's flag package, which stops at the first
// argument that is not a flag and would take "-o" for a file.
//
// An argument is a flag when it starts with "-" and is not "-" itself
// (standard input, for the commands that read it). A flag the command
// defines as taking a value (every kind but bool) takes the next argument
// with it unless it is written --name=value; a bool flag, or one the
// command does not define (which urfave/cli then refuses, or --help),
// stands alone. "--" ends the flags: everything after it is an argument,
// even when it starts with "-". The arguments keep their order, and so do
// the flags. With --help (or -h) the arguments are dropped, so that help is
// shown whatever follows. A value flag at the very end, without its value, is left last
// (and the arguments dropped) so that urfave/cli reports the missing value.
// A command line that does not name a command is returned as it is.
func flagsFirst(cmds []*cli.Command, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv := true
		if d, ok := f.(cli.DocGenerationFlag); ok {
			tv = d.TakesValue()
		}
		for _, n := range f.Names() {
			takesValue[n] = tv
		}
	}
	var flags, rest []string
	tail := args[2:]
	for i := 0; i < len(tail); i++ {
		a := tail[i]
		switch {
		case a == "--":
			rest = append(rest, tail[i+1:]...)
			i = len(tail)
		case a == "-" || !strings.HasPrefix(a, "-"):
			rest = append(rest, a)
		default:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") || !takesValue[name] {
				continue
			}
			if i+1 == len(tail) { // no value: leave it last, for urfave/cli to say so
				return append(append(append([]string{}, args[:2]...), flags[:len(flags)-1]...), a)
			}
			flags = append(flags, tail[i+1])
			i++
		}
	}
	out := append(append([]string{}, args[:2]...), flags...)
	if slices.ContainsFunc(flags, isHelp) {
		return out // urfave/cli would take the files for help topics
	}
	if len(rest) > 0 {
		out = append(append(out, "--"), rest...)
	}
	return out
}

// isHelp reports whether a is urfave/cli's help flag.
func isHelp(a string) bool { return a == "-h" || a == "--h" || a == "-help" || a == "--help" }
