package store

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
)

// remotesF is the file under the state root naming the image servers
// (simplestreams) that `pull REMOTE:ALIAS` reaches, as a JSON object of
// name to base URL. Without it, the predefined ones apply.
const remotesF = "remotes"

// DefaultRemotes are the image servers known before any `remote add`.
var DefaultRemotes = map[string]string{"images": "https://images.linuxcontainers.org"}

// Remote is a named image server.
type Remote struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Remotes returns the image servers, sorted by name.
func (s *Store) Remotes() ([]Remote, error) {
	s.originMu.Lock()
	defer s.originMu.Unlock()
	m, err := s.readRemotes()
	if err != nil {
		return nil, err
	}
	var out []Remote
	for n, u := range m {
		out = append(out, Remote{n, u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// AddRemote names the image server at rawURL (http or https); an existing
// name is refused. RemoveRemote forgets one, the predefined ones too.
func (s *Store) AddRemote(name, rawURL string) error {
	if err := validName("remote", name, maxInstanceName); err != nil {
		return err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("remote %s: %q: %w: give the server's base URL, http:// or https://, without a query", name, rawURL, ErrInvalidName)
	}
	return s.updateRemotes(func(m map[string]string) error {
		if old, ok := m[name]; ok {
			return fmt.Errorf("remote %s %w (%s): remove it first", name, ErrExist, old)
		}
		m[name] = strings.TrimSuffix(u.String(), "/")
		return nil
	})
}

// RemoveRemote forgets the image server called name.
func (s *Store) RemoveRemote(name string) error {
	return s.updateRemotes(func(m map[string]string) error {
		if _, ok := m[name]; !ok {
			return fmt.Errorf("remote %s %w: see initns remote ls", name, ErrNotExist)
		}
		delete(m, name)
		return nil
	})
}

func (s *Store) updateRemotes(f func(map[string]string) error) error {
	s.originMu.Lock()
	defer s.originMu.Unlock()
	m, err := s.readRemotes()
	if err != nil {
		return err
	}
	if err := f(m); err != nil {
		return err
	}
	data, err := json.MarshalIndent(m, "", "\t")
	if err != nil {
		return err
	}
	return s.writeAtomic(remotesF, append(data, '\n'))
}

func (s *Store) readRemotes() (map[string]string, error) {
	m := map[string]string{}
	data, err := os.ReadFile(s.path(remotesF))
	if os.IsNotExist(err) {
		for n, u := range DefaultRemotes {
			m[n] = u
		}
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read remotes: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is damaged (%w): fix or delete it", s.path(remotesF), err)
	}
	return m, nil
}
