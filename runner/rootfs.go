package runner

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

type rootfsKind int

const (
	rootfsRaw   rootfsKind = iota // a disk image (ext4 or any other)
	rootfsCPIO                    // an initramfs
	rootfsQCOW2                   // a qcow2 disk image
)

// sniffRootfs tells an initramfs from a disk image by content, as the
// artefact was already decompressed: a name says nothing reliable.
func sniffRootfs(path string) (rootfsKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return rootfsRaw, err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return rootfsRaw, fmt.Errorf("read rootfs %s: %w", path, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("070701")), bytes.HasPrefix(head, []byte("070702")), bytes.HasPrefix(head, []byte("070707")):
		return rootfsCPIO, nil
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return rootfsQCOW2, nil
	}
	return rootfsRaw, nil
}
