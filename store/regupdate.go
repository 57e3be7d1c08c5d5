package store

// register adds the instance in to the registry (the commit point).
func (s *Store) register(in Instance) error {
	return s.updateRegistry(true, func(reg []string, meta map[string]Instance) []string {
		meta[in.Name] = in
		return append(reg, in.Name)
	})
}

// updateRegistry applies f to copies of the registry and the metadata,
// writes the result durably (adding says whether names are added, see
// writeRegistry) and publishes it. Registry writes are serialised.
func (s *Store) updateRegistry(adding bool, f func(reg []string, meta map[string]Instance) []string) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	meta := cloneMeta(s.meta)
	reg := append([]string(nil), s.reg...)
	s.mu.Unlock()
	reg = f(reg, meta)
	if err := s.writeRegistry(reg, meta, adding); err != nil {
		return err
	}
	s.publish(reg, meta)
	return nil
}

// dropName returns reg without name.
func dropName(reg []string, name string) []string {
	out := reg[:0:0]
	for _, n := range reg {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

// Update changes the metadata of the registered instance name with f
// (which must not change its name) and writes it durably. It fails with
// ErrNotExist if name is not registered.
func (s *Store) Update(name string, f func(*Instance)) error {
	if err := ValidInstanceName(name); err != nil {
		return err
	}
	var missing bool
	err := s.updateRegistry(false, func(reg []string, meta map[string]Instance) []string {
		in, ok := meta[name]
		if !ok {
			missing = true
			return reg
		}
		f(&in)
		in.Name = name
		meta[name] = in
		return reg
	})
	if missing {
		return notExistInstance(name)
	}
	return err
}
