package ccache

// ConfigRealm is the server realm of MIT cache configuration entries.
const ConfigRealm = "X-CACHECONF:"

// configComponent is the first server name component of a configuration
// entry; the second is the key, the optional third the associated principal.
const configComponent = "krb5_ccache_conf_data"

// nameTypePrincipal is KRB5_NT_PRINCIPAL, the type MIT infers for the server
// name of a configuration entry.
const nameTypePrincipal = 1

// Configuration keys used by MIT krb5 (doc/formats/ccache_file_format.rst).
const (
	ConfigFASTAvail         = "fast_avail"
	ConfigPAConfigData      = "pa_config_data"
	ConfigPAType            = "pa_type"
	ConfigProxyImpersonator = "proxy_impersonator"
	ConfigRefreshTime       = "refresh_time"
)

// IsConfig reports whether c is a configuration entry rather than a ticket.
func (c *Credential) IsConfig() bool {
	return c.Server.Realm == ConfigRealm && len(c.Server.Components) >= 2 &&
		c.Server.Components[0] == configComponent
}

// ConfigKey returns the key and the associated principal name (empty when
// none) of a configuration entry; ok is false for a ticket.
func (c *Credential) ConfigKey() (key, principal string, ok bool) {
	if !c.IsConfig() {
		return "", "", false
	}
	if len(c.Server.Components) > 2 {
		principal = c.Server.Components[2]
	}
	return c.Server.Components[1], principal, true
}

// Entries returns the credentials that are not configuration entries.
func (c *CCache) Entries() []Credential {
	var out []Credential
	for i := range c.Credentials {
		if !c.Credentials[i].IsConfig() {
			out = append(out, c.Credentials[i])
		}
	}
	return out
}

// configServer is the server principal of the entry for key, associated
// with principal p when p is not nil.
func configServer(key string, p *Principal) Principal {
	s := Principal{Realm: ConfigRealm, NameType: nameTypePrincipal, Components: []string{configComponent, key}}
	if p != nil {
		s.Components = append(s.Components, p.String())
	}
	return s
}

// Config returns the value of the first configuration entry for key
// associated with principal p (nil: associated with no principal).
func (c *CCache) Config(key string, p *Principal) ([]byte, bool) {
	if i := c.configIndex(key, p); i >= 0 {
		return c.Credentials[i].Ticket, true
	}
	return nil, false
}

// configIndex finds the entry for key and p by its name components (the
// name type is not compared), or returns -1.
func (c *CCache) configIndex(key string, p *Principal) int {
	want := ""
	if p != nil {
		want = p.String()
	}
	for i := range c.Credentials {
		k, assoc, ok := c.Credentials[i].ConfigKey()
		if ok && k == key && assoc == want && (p != nil) == (len(c.Credentials[i].Server.Components) > 2) {
			return i
		}
	}
	return -1
}

// SetConfig stores a configuration entry the way MIT does: client = the
// default principal, server = X-CACHECONF:/krb5_ccache_conf_data/key[/p],
// the value in the ticket field, every other field zero. An existing entry
// for the same key and principal is replaced in place.
func (c *CCache) SetConfig(key string, p *Principal, value []byte) {
	cred := Credential{
		Client: NewPrincipal(c.DefaultPrincipal.Realm, c.DefaultPrincipal.PrincipalName()),
		Server: configServer(key, p),
		Ticket: append([]byte{}, value...),
	}
	if i := c.configIndex(key, p); i >= 0 {
		c.Credentials[i] = cred
		return
	}
	c.Credentials = append(c.Credentials, cred)
}
