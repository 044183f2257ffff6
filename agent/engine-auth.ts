// What the registry module hands the Engine for a pull or a service update; shared by registry/ (which builds it) and docker/ (which sends it).

/** The Engine's X-Registry-Auth: a username and password, or an OAuth2 identity token (Engine API "Authentication"). */
export type EngineAuth = { username: string; password: string; serveraddress: string } | { identitytoken: string; serveraddress: string };
