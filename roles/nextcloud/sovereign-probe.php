<?php
// Managed by Sovereign Appliance (roles/nextcloud): proves nginx reaches PHP-FPM's Nextcloud
// pool and says which of the extensions Nextcloud needs are loaded. Loopback only.
header('Content-Type: application/json');
$wanted = ['ctype', 'curl', 'dom', 'fileinfo', 'gd', 'intl', 'json', 'mbstring', 'openssl',
           'pdo_pgsql', 'posix', 'session', 'SimpleXML', 'xmlreader', 'xmlwriter', 'zip', 'zlib',
           'bcmath', 'gmp', 'apcu', 'redis'];
$extensions = [];
foreach ($wanted as $name) {
    $extensions[$name] = extension_loaded($name);
}
echo json_encode([
    'php' => PHP_VERSION,
    'sapi' => PHP_SAPI,
    'pool_user' => posix_getpwuid(posix_geteuid())['name'],
    'config_dir' => getenv('NEXTCLOUD_CONFIG_DIR'),
    'extensions' => $extensions,
]), "\n";
