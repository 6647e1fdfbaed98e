package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoBuildOutputsCommitted fails when the repository tracks a compiled
// program or any file over 2 MiB: build outputs (go build ./infra/local
// leaves ./local, make build leaves bin/) belong in .gitignore, not in
// every clone.
func TestNoBuildOutputsCommitted(t *testing.T) {
	root := filepath.Join("..", "..")
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	magics := map[string][]byte{
		"an ELF program":    {0x7f, 'E', 'L', 'F'},
		"a Mach-O program":  {0xcf, 0xfa, 0xed, 0xfe},
		"a Windows program": {'M', 'Z'},
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		path := filepath.Join(root, name)
		info, err := os.Stat(path)
		if err != nil {
			continue // deleted in the work tree, not yet committed
		}
		if info.Size() > 2<<20 {
			t.Errorf("%s is tracked and %d bytes: build outputs and large data do not belong in the repository", name, info.Size())
			continue
		}
		head := make([]byte, 4)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := f.Read(head)
		f.Close()
		for what, magic := range magics {
			if n >= len(magic) && bytes.Equal(head[:len(magic)], magic) {
				t.Errorf("%s is tracked and is %s: add it to .gitignore", name, what)
			}
		}
	}
	for _, output := range []string{"local", "bin/worker/bootstrap"} {
		if err := exec.Command("git", "-C", root, "check-ignore", "-q", output).Run(); err != nil {
			t.Errorf("git check-ignore %s: %v; build outputs must be ignored", output, err)
		}
	}
}
