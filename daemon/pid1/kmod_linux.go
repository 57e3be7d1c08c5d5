package pid1

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// insertModule loads one module file into the kernel with its parameters
// ("p=v q=w", or ""). A plain .ko goes by
// finit_module (the kernel reads the file itself); a compressed one is
// decompressed here and given to init_module. A module already loaded
// (EEXIST) is success.
func insertModule(file, params string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if strings.HasSuffix(file, ".ko") {
		err = unix.FinitModule(int(f.Fd()), params, 0)
	} else {
		var image []byte
		if image, err = decompress(file, f); err != nil {
			return err
		}
		err = unix.InitModule(image, params)
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", file, err)
	}
	return nil
}
