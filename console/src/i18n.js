// English and French. The language is the person's choice (kept in localStorage: a
// preference, never a secret), else the browser's.

const EN = {
  accept: 'Join', cancel: 'Cancel', retry: 'Try again', accept_help: 'The invitation could not be looked up. Choose your password (or enter your current one if you already have an account) to join.', accept_title: 'Accept the invitation',
  access_token: 'Access token', action: 'Action', actions: 'Actions', activate: 'Activate', active: 'Active', actor: 'Who', address: 'Address',
  algorithm: 'Algorithm', all_tenants: 'every organisation', api_key: 'API key', app_passwords: 'App passwords', app_passwords_of: 'App passwords of {address}',
  app_secret: 'App secret', base_url: 'Base URL', billing_email: 'Billing email', branding: 'Branding', builtin: 'Built-in',
  certificate: 'TLS certificate', certificate_default: "No certificate uploaded: the relay's default certificate serves this domain.",
  certificate_pem: 'Certificate (PEM; a full-chain file is fine)', certificate_remove: 'Remove the certificate', chain_pem: 'Chain (PEM, optional)',
  client_new: 'New client', configuration: 'Configuration', confirm_delete: 'Delete {name}?', confirm_remove: 'Remove {name} from this organisation?',
  confirm_suspend: 'Suspend {name}? Its members and keys stop working at once.', copied: 'Copied', copy: 'Copy', counts: 'Counts',
  counts_value: '{members} members, {clients} clients, {mailboxes} mailboxes', create: 'Create', created: 'Created', custom: 'Custom',
  delete: 'Delete', device: 'Device', display_name: 'Display name', dkim: 'DKIM records to publish', dkim_new: 'New DKIM key (it replaces the current one)',
  dkim_none: 'No DKIM key yet: outgoing mail is not signed.', dns_record: 'DNS record', domain: 'Domain', domain_new: 'New mail domain',
  edit: 'Edit', edit_tenant: 'Plan and limits of {slug}', email: 'Email', email_unverified: 'Email not verified', email_verified: 'Email verified',
  end_session: 'End', error_generic: 'Something went wrong. Try again.', expires: 'Expires', filter: 'Filter',
  forgot_done: 'If an account exists for this address, a link to choose a new password is on its way.', forgot_password: 'Forgot your password?',
  forgot_title: 'Reset your password', from: 'From', invite: 'Invite someone', issuer: 'Issuer', key: 'Key', key_new: 'New API key',
  key_shown_once: 'The key "{name}": copy it now, it is shown only once.', kind: 'Kind', label: 'Label', language: 'Language',
  last_used: 'Last used', loading: 'Loading…', logo_url: 'Logo URL (https)', mail_limits: 'Mail: {day} messages a day, {minute} a minute.',
  mailbox_new: 'Add the mailbox', mailboxes_of: 'Mailboxes of {domain}', max_mailboxes: 'Mailboxes at most (-1: no limit)',
  max_storage_mb: 'Storage in MB at most (-1: no limit)', metric: 'Metric', name: 'Name', names: 'Served for', nav_account: 'My account',
  nav_api_keys: 'API keys', nav_audit: 'Audit log', nav_clients: 'Clients', nav_dashboard: 'Dashboard', nav_integrations: 'Integrations',
  nav_mail: 'Mail', nav_members: 'Members', nav_platform: 'Platform', nav_relay_keys: 'Relay keys', nav_roles: 'Roles', nav_settings: 'Settings',
  nav_stats: 'Statistics', nav_tenant: 'Organisation', nav_tenants: 'Organisations', nav_you: 'You', navigation: 'Navigation', new_password: 'New password',
  next: 'Next', nothing_yet: 'Nothing yet.', organisation_name: 'Organisation name', organisation_slug: 'Address in the platform (slug)',
  organisation_type: 'Organisation type', override: 'Limit: {quota}', override_help: 'Empty: the plan decides; -1: no limit.',
  owner_email: "Owner's email", password: 'Password', password_rules: '12 to 128 characters, not a common password.',
  password_shown_once: 'The app password "{label}": enter it in the mail client now, it is shown only once.',
  pending_invitations: 'Pending invitations', per_tenant: 'Per organisation', permissions: 'Permissions',
  permissions_help: 'resource:action, separated by commas (e.g. clients:read, appointments:update:own)', phone: 'Phone',
  phone_number_id: 'Phone number id', plan: 'Plan', previous: 'Previous', primary_color: 'Primary colour (#rrggbb)',
  private_key_pem: 'Private key (PEM, unencrypted)', q_api_calls: 'API calls this month', q_appointments: 'Appointments this month',
  q_clients: 'Clients', q_mail_today: 'Mail messages today', q_mailboxes: 'Mailboxes', q_requests_minute: 'Requests this minute',
  q_storage: 'Mail storage', q_users: 'Users', quota: 'Quota', quota_help: "Empty: the domain's quota only.", quota_mb: 'Quota (MB)',
  rate_reset: 'The window resets in {seconds} s.', rate_title: 'Rate limit', refresh: 'Refresh',
  relay_key_help: 'A relay key lets a tenantry-relay read the mail directory; it is shown once.', relay_key_new: 'New relay key',
  relay_key_tenants: 'Organisations served (ids, optional)', relay_key_tenants_help: 'Empty: every organisation.', remove: 'Remove', resend: 'Resend',
  reset: 'Change the password', reset_done: 'Your password is changed; every session was ended. Sign in again.', reset_title: 'Choose a new password',
  resource: 'Resource', retry_in: 'Too many requests: try again in {seconds} s.', revoke: 'Revoke', revoked: 'Revoked', role: 'Role',
  role_name_rules: '2 to 32 characters: a-z, 0-9 and -.', role_new: 'New role', save: 'Save', saved: 'Saved.', saved_kind: '{kind} saved.',
  scope: 'Scope', search: 'Search', send_invitation: 'Send the invitation', send_link: 'Send me a link', serial: 'Serial',
  sessions: 'Sessions', shown_once: 'Shown only once: copy it now.', sign_in: 'Sign in', sign_in_title: 'Sign in to Tenantry',
  sign_out: 'Sign out', sign_up: 'Create an account', sign_up_done: 'Almost there: confirm your address with the link we sent.',
  sign_up_title: 'Create your organisation', since: 'Since', skip: 'Skip to the content', slug: 'Slug',
  slug_rules: 'Lowercase letters, digits and -, 3 to 63 characters.', started: 'Started', state: 'State', status: 'Status',
  subject: 'Subject', suspend: 'Suspend', switch_to: 'Switch', tenant: 'Organisation',
  tenant_created: 'Organisation {slug} created. Its owner API key, shown only once:', tenant_new: 'New organisation', this_session: 'this session',
  timezone: 'Time zone', to: 'To', token: 'Token', totals: 'Totals', updated: 'Updated', upload: 'Upload', usage_chart: 'Usage against the plan',
  usage_title: 'Usage against the {plan} plan', value: 'Value', verify_done: 'Your address is confirmed. You can sign in.',
  verify_title: 'Confirm your address', verify_token: 'Verify token', when: 'When',
  // Mail domains are proven (a DNS record) before they are hosted.
  copied_what: 'Copied: {what}', domain_help: 'You then prove that you hold it with a DNS record: until then it receives no mail.',
  domain_status_active: 'Active', domain_status_lapsed: 'Lapsed', domain_status_missing: 'Active, record missing',
  domain_status_pending: 'Pending', domain_status_suspended: 'Suspended', record_type: 'Type', zone_line: 'Zone-file line',
  proof_asked: 'Check asked for: the relays look the record up within about a minute, and this page loads the domain again by itself.',
  proof_check: 'Check now',
  proof_explain: 'Publish this DNS record, then check: until it is seen, the domain receives no mail and no mail is signed for it.',
  proof_explain_lapsed: 'The record that proved this domain is gone: mail to it is deferred, not delivered. Publish this DNS record again, then check.',
  proof_explain_missing: 'The record that proves this domain is gone. Publish this DNS record again, then check: the domain works until it lapses.',
  proof_lapsed_at: 'Lapsed on {when} (the record has been missing since {since}).',
  proof_lapses_at: 'The record has been missing since {since}: the domain lapses on {when} unless it is published again, and mail to it is then deferred.',
  proof_last_check: 'Last check:', proof_never: 'not yet', proof_not_found: 'The record was not found at the last check. A new DNS record can take a while to be seen everywhere: check again later.',
  proof_proven: 'The record was seen: {domain} is proven and receives mail.', proof_queued: 'asked for, within about a minute',
  proof_title: 'Prove that you hold {domain}',
  // Codes the API answers, in words.
  role_owner: 'Owner', role_admin: 'Administrator', role_manager: 'Manager', role_employee: 'Employee', role_viewer: 'Viewer',
  status_active: 'Active', status_pending: 'Pending', status_suspended: 'Suspended', status_deleted: 'Deleted', status_lapsed: 'Lapsed',
  status_disabled: 'Disabled',
  plan_free: 'Free', plan_starter: 'Starter', plan_professional: 'Professional', plan_enterprise: 'Enterprise',
  orgtype_hospital: 'Hospital', orgtype_clinic: 'Clinic', orgtype_practice: 'Practice', orgtype_laboratory: 'Laboratory', orgtype_other: 'Other',
  mailbox_kind_personal: 'Personal', mailbox_kind_organizational: 'Shared (a service)',
  dns_records: 'DNS records for mail', dns_records_help: 'Publish these in the domain\'s DNS so that mail reaches the relays and other servers trust what it sends.',
  record_value: 'Value', record_purpose_mx: 'Mail exchanger (MX)', record_purpose_spf: 'Authorised senders (SPF)', record_purpose_dmarc: 'Policy for forged mail (DMARC)',
  record_purpose_mta_sts: 'Encrypted delivery required (MTA-STS)', record_purpose_tls_rpt: 'Reports of encryption failures (TLS-RPT)',
  mta_sts_policy: 'MTA-STS policy', mta_sts_policy_help: 'Serve this file at {url} (HTTPS, a certificate valid for that name).',
  dmarc_handling: 'Forged senders (DMARC)', dmarc_handling_choice: 'Mail that fails DMARC',
  dmarc_handling_help: "When a message claims a sender whose domain does not vouch for it (no aligned SPF or DKIM pass), the MX can follow that domain's published policy or always do one thing.",
  dmarc_handling_policy: "As the sender's domain asks (refused, Junk or delivered)", dmarc_handling_quarantine: 'Always to the Junk folder',
  dmarc_handling_reject: 'Always refused', dmarc_handling_tag: 'Delivered to the inbox, marked in its headers',
  dkim_state_active: 'Active', dkim_state_previous: 'Previous (keep it published)', dkim_state_retired: 'Retired',
  algorithm_rsa: 'RSA', algorithm_ed25519: 'Ed25519', integration_crm: 'CRM (EspoCRM)', integration_whatsapp: 'WhatsApp',
  platform_role_superadmin: 'Platform operator',
  quota_users: 'Users', quota_storage_mb: 'Mail storage (MB)', quota_api_calls_per_month: 'API calls a month', quota_clients: 'Clients',
  quota_appointments_per_month: 'Appointments a month', quota_mailboxes: 'Mailboxes', quota_requests_per_minute: 'Requests a minute',
  quota_mail_messages_per_day: 'Mail messages a day', quota_mail_messages_per_minute: 'Mail messages a minute',
  quota_mail_recipients_per_message: 'Recipients a message',
  // Counts, in the singular or the plural.
  n_members_one: '{n} member', n_members_other: '{n} members', n_clients_one: '{n} client', n_clients_other: '{n} clients',
  n_mailboxes_one: '{n} mailbox', n_mailboxes_other: '{n} mailboxes', n_messages_one: '{n} message', n_messages_other: '{n} messages',
  n_mailboxes_of_one: '{used} / {limit} mailbox', n_mailboxes_of_other: '{used} / {limit} mailboxes',
  no_limit: 'no limit', limit_near: 'Near the limit', limit_reached: 'Limit reached', never: 'never', close: 'Close', you: 'you',
  // Statistics and relays.
  total_tenants: 'Organisations', total_members: 'Members', total_clients: 'Clients', total_appointments: 'Appointments',
  total_mailboxes: 'Mailboxes', total_audit_entries: 'Audit entries', tenants_by_status: 'Organisations by status',
  relays_title: 'Relay health', relays_none: 'No relay yet.', relay_last_seen: 'Last seen', relay_never_seen: 'Never seen',
  relay_queue: 'Queue', relay_oldest: 'Oldest in queue', relay_certificates: 'Certificates',
  certificate_expiring: 'Expires {when}', certificate_expired: 'Expired {when}',
  // Invitations.
  accept_join: 'Join {tenant}', accept_invited: '{email} is invited to join {tenant} as', accept_invalid_help: 'Ask whoever invited you to send a new invitation.',
  accept_new_help: 'Choose the password of your new account.', password_again: 'Password again',
  password_mismatch: 'The two passwords differ: type the same password twice.',
  accept_existing_help: 'You already have an account ({email}): enter its password to add this organisation to it.',
  accept_existing_password: 'Password of your account {email}',
  // Mail.
  mail_domains: 'Mail domains', mailboxes_in_tenant: 'Mailboxes in the organisation:', establishment: 'Establishment',
  establishment_name: 'Establishment name', establishment_type: 'Establishment type', max_mailboxes_short: 'Mailboxes at most',
  max_storage_short: 'Storage at most', domains_none: 'No mail domain yet: add one below.', quota_of_domain: "The domain's storage ({size})",
  domain_storage: 'storage of the domain: {size}', mailboxes_none: 'No mailbox yet.', mailbox_add_to: 'Add a mailbox to {domain}',
  app_passwords_none: 'No app password yet.', app_password_new: 'New app password',
  app_password_help: 'What it is for (a mail client, a phone): you can revoke each one alone.', selector: 'selector',
  dkim_value: 'Value (DNS strings)', certificate_upload: 'Upload a certificate', certificate_replace: 'Replace the certificate',
  dkim_split_one: 'Published as {n} DNS string.',
  dkim_split_other: 'Published as {n} DNS strings of at most 255 characters each, as DNS requires: paste them as they are.',
  relay: 'Relay', relay_directory: 'Directory sync', up_to_date: 'up to date', versions_behind_one: '{n} version behind',
  versions_behind_other: '{n} versions behind', members_title: 'People with access', accept_expires: 'The invitation is valid until {when}.',
  // Second factors: an authenticator app and recovery codes.
  mfa_title: 'Two-step verification', mfa_help: 'Enter the 6-digit code your authenticator app shows for this account.',
  mfa_verify: 'Verify', mfa_code: 'Code from the app', mfa_code_help: 'Six digits; a new code every 30 seconds.',
  mfa_recovery_code: 'Recovery code', mfa_recovery_help: 'One of the recovery codes you stored (xxxxx-xxxxx); each works once.',
  mfa_code_format: 'Enter the six digits the app shows.', mfa_recovery_empty: 'Enter one of your recovery codes.',
  mfa_use_recovery: 'Use a recovery code instead', mfa_use_code: 'Use the code from the app instead',
  mfa_invalid_code: 'This code is not right, or was already used: enter the code the app shows now.',
  mfa_invalid_recovery: 'This recovery code is not right, or was already used.',
  mfa_token_invalid: 'This sign-in has expired or was already completed: sign in again with your password.',
  mfa_too_many: 'Too many wrong codes: sign in again with your password.', mfa_wait: 'Wait {seconds} s first.',
  mfa_restart: 'Sign in again',
  mfa_required_text: 'This organisation requires its members to sign in with two factors. Set up an authenticator app in your account: the organisation opens as soon as it is confirmed.',
  mfa_required_link: 'Set up two-step verification',
  security: 'Two-step verification', mfa_off_badge: 'Off', mfa_off: 'Signing in needs only your password.',
  mfa_pending: 'A set-up was started but not confirmed: start it again.', mfa_setup: 'Set up an authenticator app',
  mfa_on_badge: 'On', mfa_on: 'Signing in asks for a code from your authenticator app (set up on {when}).',
  mfa_enabled: 'Your authenticator app is set up: signing in now asks for its code.',
  mfa_step_scan: 'Scan this QR code with your authenticator app, or type the key below into it.',
  mfa_step_code: 'Enter the 6-digit code the app then shows, to confirm.', mfa_qr_label: 'QR code to scan with your authenticator app',
  mfa_secret: 'Key to type into the app', mfa_confirm: 'Confirm',
  recovery_title: 'Your recovery codes', recovery_store_now: 'Store these codes now, somewhere safe: they are shown only once.',
  recovery_explain: 'If you lose your authenticator app, each code signs you in once instead of a code from the app.',
  recovery_copy: 'Copy the codes', recovery_download: 'Download the codes', recovery_stored: 'I have stored them',
  recovery_file_title: 'Tenantry recovery codes (each works once)',
  recovery_left_one: '{n} recovery code left.', recovery_left_other: '{n} recovery codes left.', recovery_few: 'Few left',
  recovery_new: 'New recovery codes', recovery_new_help: 'Ten new codes replace the current ones, which stop working. Enter a code from the app (or a recovery code) to go on.',
  recovery_new_submit: 'Make new codes', mfa_disable: 'Disable', mfa_disable_submit: 'Disable the authenticator app',
  mfa_disable_help: 'Signing in will need only your password again, and your recovery codes stop working. Enter a code from the app (or a recovery code) to go on.',
  mfa_disabled: 'The authenticator app is removed: signing in needs only your password.',
  signed_in_with: 'Signed in with', amr_password: 'Password', amr_app: 'Password + authenticator app', amr_recovery: 'Password + recovery code',
  sign_in_security: 'Sign-in security', require_mfa: 'Require two-factor sign-in for members',
  require_mfa_help: 'Members who signed in with a password only can then open nothing of the organisation until they set up an authenticator app. API keys are not affected.',
  require_mfa_self: 'You signed in with a password only: once this is saved, set up an authenticator app in My account to go on managing the organisation.',
  require_mfa_on: 'Members must sign in with two factors.', require_mfa_off: 'Members may sign in with a password only.',
};

const FR = {
  accept: 'Rejoindre', cancel: 'Annuler', retry: 'Réessayer', accept_help: "L'invitation n'a pas pu être consultée. Choisissez votre mot de passe (ou saisissez le vôtre si vous avez déjà un compte) pour rejoindre.", accept_title: "Accepter l'invitation",
  access_token: "Jeton d'accès", action: 'Action', actions: 'Actions', activate: 'Activer', active: 'Active', actor: 'Qui', address: 'Adresse',
  algorithm: 'Algorithme', all_tenants: 'toutes les organisations', api_key: 'Clé API', app_passwords: "Mots de passe d'application",
  app_passwords_of: "Mots de passe d'application de {address}", app_secret: "Secret d'application", base_url: 'URL de base',
  billing_email: 'Courriel de facturation', branding: 'Image de marque', builtin: 'Intégré', certificate: 'Certificat TLS',
  certificate_default: 'Aucun certificat envoyé : le certificat par défaut du relais sert ce domaine.',
  certificate_pem: 'Certificat (PEM ; un fichier de chaîne complète convient)', certificate_remove: 'Retirer le certificat',
  chain_pem: 'Chaîne (PEM, facultative)', client_new: 'Nouveau client', configuration: 'Configuration', confirm_delete: 'Supprimer {name} ?',
  confirm_remove: 'Retirer {name} de cette organisation ?', confirm_suspend: 'Suspendre {name} ? Ses membres et ses clés cessent de fonctionner aussitôt.',
  copied: 'Copié', copy: 'Copier', counts: 'Effectifs', counts_value: '{members} membres, {clients} clients, {mailboxes} boîtes', create: 'Créer',
  created: 'Créé', custom: 'Personnalisé', delete: 'Supprimer', device: 'Appareil', display_name: "Nom d'affichage",
  dkim: 'Enregistrements DKIM à publier', dkim_new: 'Nouvelle clé DKIM (elle remplace la clé courante)',
  dkim_none: "Pas encore de clé DKIM : le courrier sortant n'est pas signé.", dns_record: 'Enregistrement DNS', domain: 'Domaine',
  domain_new: 'Nouveau domaine de messagerie', edit: 'Modifier', edit_tenant: 'Offre et limites de {slug}', email: 'Courriel',
  email_unverified: 'Courriel non vérifié', email_verified: 'Courriel vérifié', end_session: 'Terminer',
  error_generic: "Une erreur s'est produite. Réessayez.", expires: 'Expire', filter: 'Filtrer',
  forgot_done: 'Si un compte existe pour cette adresse, un lien pour choisir un nouveau mot de passe arrive.',
  forgot_password: 'Mot de passe oublié ?', forgot_title: 'Réinitialiser votre mot de passe', from: 'Du', invite: 'Inviter quelqu’un',
  issuer: 'Émetteur', key: 'Clé', key_new: 'Nouvelle clé API', key_shown_once: "La clé « {name} » : copiez-la maintenant, elle n'est montrée qu'une fois.",
  kind: 'Type', label: 'Libellé', language: 'Langue', last_used: 'Dernière utilisation', loading: 'Chargement…', logo_url: 'URL du logo (https)',
  mail_limits: 'Messagerie : {day} messages par jour, {minute} par minute.', mailbox_new: 'Ajouter la boîte', mailboxes_of: 'Boîtes de {domain}',
  max_mailboxes: 'Nombre de boîtes au plus (-1 : sans limite)', max_storage_mb: 'Stockage en Mo au plus (-1 : sans limite)', metric: 'Mesure',
  name: 'Nom', names: 'Servi pour', nav_account: 'Mon compte', nav_api_keys: 'Clés API', nav_audit: "Journal d'audit", nav_clients: 'Clients',
  nav_dashboard: 'Tableau de bord', nav_integrations: 'Intégrations', nav_mail: 'Messagerie', nav_members: 'Membres', nav_platform: 'Plateforme',
  nav_relay_keys: 'Clés de relais', nav_roles: 'Rôles', nav_settings: 'Paramètres', nav_stats: 'Statistiques', nav_tenant: 'Organisation',
  nav_tenants: 'Organisations', nav_you: 'Vous', navigation: 'Navigation', new_password: 'Nouveau mot de passe', next: 'Suivant',
  nothing_yet: 'Rien pour le moment.', organisation_name: "Nom de l'organisation", organisation_slug: 'Adresse dans la plateforme (identifiant)',
  organisation_type: "Type d'organisation", override: 'Limite : {quota}', override_help: "Vide : l'offre décide ; -1 : sans limite.",
  owner_email: 'Courriel du propriétaire', password: 'Mot de passe', password_rules: '12 à 128 caractères, pas un mot de passe courant.',
  password_shown_once: "Le mot de passe d'application « {label} » : saisissez-le dans le logiciel de messagerie maintenant, il n'est montré qu'une fois.",
  pending_invitations: 'Invitations en attente', per_tenant: 'Par organisation', permissions: 'Permissions',
  permissions_help: 'ressource:action, séparées par des virgules (ex. clients:read, appointments:update:own)', phone: 'Téléphone',
  phone_number_id: 'Identifiant du numéro', plan: 'Offre', previous: 'Précédent', primary_color: 'Couleur principale (#rrggbb)',
  private_key_pem: 'Clé privée (PEM, non chiffrée)', q_api_calls: 'Appels API ce mois-ci', q_appointments: 'Rendez-vous ce mois-ci',
  q_clients: 'Clients', q_mail_today: "Messages aujourd'hui", q_mailboxes: 'Boîtes aux lettres', q_requests_minute: 'Requêtes cette minute',
  q_storage: 'Stockage de messagerie', q_users: 'Utilisateurs', quota: 'Quota', quota_help: 'Vide : le quota du domaine seulement.',
  quota_mb: 'Quota (Mo)', rate_reset: 'La fenêtre repart dans {seconds} s.', rate_title: 'Limite de débit', refresh: 'Actualiser',
  relay_key_help: "Une clé de relais permet à un tenantry-relay de lire l'annuaire de messagerie ; elle n'est montrée qu'une fois.",
  relay_key_new: 'Nouvelle clé de relais', relay_key_tenants: 'Organisations servies (identifiants, facultatif)', relay_key_tenants_help: 'Vide : toutes les organisations.',
  remove: 'Retirer', resend: 'Renvoyer', reset: 'Changer le mot de passe',
  reset_done: 'Votre mot de passe est changé ; toutes les sessions ont été fermées. Reconnectez-vous.', reset_title: 'Choisir un nouveau mot de passe',
  resource: 'Ressource', retry_in: 'Trop de requêtes : réessayez dans {seconds} s.', revoke: 'Révoquer', revoked: 'Révoquée', role: 'Rôle',
  role_name_rules: '2 à 32 caractères : a-z, 0-9 et -.', role_new: 'Nouveau rôle', save: 'Enregistrer', saved: 'Enregistré.',
  saved_kind: '{kind} enregistré.', scope: 'Portée', search: 'Rechercher', send_invitation: "Envoyer l'invitation", send_link: 'Envoyez-moi un lien',
  serial: 'Numéro de série', sessions: 'Sessions', shown_once: "Montré une seule fois : copiez-le maintenant.", sign_in: 'Se connecter',
  sign_in_title: 'Connexion à Tenantry', sign_out: 'Se déconnecter', sign_up: 'Créer un compte',
  sign_up_done: 'Presque terminé : confirmez votre adresse avec le lien envoyé.', sign_up_title: 'Créer votre organisation', since: 'Depuis',
  skip: 'Aller au contenu', slug: 'Identifiant', slug_rules: 'Minuscules, chiffres et -, de 3 à 63 caractères.', started: 'Ouverte',
  state: 'État', status: 'Statut', subject: 'Sujet', suspend: 'Suspendre', switch_to: 'Basculer', tenant: 'Organisation',
  tenant_created: 'Organisation {slug} créée. Sa clé API de propriétaire, montrée une seule fois :', tenant_new: 'Nouvelle organisation',
  this_session: 'cette session', timezone: 'Fuseau horaire', to: 'Au', token: 'Jeton', totals: 'Totaux', updated: 'Mis à jour',
  upload: 'Envoyer', usage_chart: "Consommation par rapport à l'offre", usage_title: "Consommation par rapport à l'offre {plan}", value: 'Valeur',
  verify_done: 'Votre adresse est confirmée. Vous pouvez vous connecter.', verify_title: 'Confirmer votre adresse', verify_token: 'Jeton de vérification',
  when: 'Quand',
  copied_what: 'Copié : {what}', domain_help: "Vous prouverez ensuite que vous le détenez par un enregistrement DNS : d'ici là, il ne reçoit aucun courrier.",
  domain_status_active: 'Actif', domain_status_lapsed: 'Expiré', domain_status_missing: 'Actif, enregistrement absent',
  domain_status_pending: 'En attente', domain_status_suspended: 'Suspendu', record_type: 'Type', zone_line: 'Ligne du fichier de zone',
  proof_asked: "Vérification demandée : les relais recherchent l'enregistrement dans la minute environ, et cette page recharge le domaine d'elle-même.",
  proof_check: 'Vérifier maintenant',
  proof_explain: "Publiez cet enregistrement DNS, puis vérifiez : tant qu'il n'est pas vu, le domaine ne reçoit aucun courrier et aucun courrier n'est signé pour lui.",
  proof_explain_lapsed: "L'enregistrement qui prouvait ce domaine a disparu : le courrier qui lui est adressé est différé, non distribué. Publiez de nouveau cet enregistrement DNS, puis vérifiez.",
  proof_explain_missing: "L'enregistrement qui prouve ce domaine a disparu. Publiez de nouveau cet enregistrement DNS, puis vérifiez : le domaine fonctionne jusqu'à son expiration.",
  proof_lapsed_at: "Expiré le {when} (l'enregistrement est absent depuis le {since}).",
  proof_lapses_at: "L'enregistrement est absent depuis le {since} : le domaine expire le {when} s'il n'est pas publié de nouveau, et le courrier qui lui est adressé est alors différé.",
  proof_last_check: 'Dernière vérification :', proof_never: 'pas encore',
  proof_not_found: "L'enregistrement n'a pas été trouvé lors de la dernière vérification. Un nouvel enregistrement DNS peut mettre un moment à être vu partout : vérifiez de nouveau plus tard.",
  proof_proven: "L'enregistrement a été vu : {domain} est prouvé et reçoit du courrier.", proof_queued: 'demandée, dans la minute environ',
  proof_title: 'Prouvez que vous détenez {domain}',
  role_owner: 'Propriétaire', role_admin: 'Administrateur', role_manager: 'Responsable', role_employee: 'Collaborateur', role_viewer: 'Lecteur',
  status_active: 'Actif', status_pending: 'En attente', status_suspended: 'Suspendu', status_deleted: 'Supprimé', status_lapsed: 'Expiré',
  status_disabled: 'Désactivé',
  plan_free: 'Gratuite', plan_starter: 'Essentielle', plan_professional: 'Professionnelle', plan_enterprise: 'Entreprise',
  orgtype_hospital: 'Hôpital', orgtype_clinic: 'Clinique', orgtype_practice: 'Cabinet', orgtype_laboratory: 'Laboratoire', orgtype_other: 'Autre',
  mailbox_kind_personal: 'Personnelle', mailbox_kind_organizational: 'Fonctionnelle (un service)',
  dns_records: 'Enregistrements DNS de la messagerie', dns_records_help: "Publiez-les dans le DNS du domaine pour que le courrier arrive aux relais et que les autres serveurs se fient à ce qu'il envoie.",
  record_value: 'Valeur', record_purpose_mx: 'Serveur de messagerie (MX)', record_purpose_spf: 'Expéditeurs autorisés (SPF)', record_purpose_dmarc: 'Politique contre les usurpations (DMARC)',
  record_purpose_mta_sts: 'Remise chiffrée exigée (MTA-STS)', record_purpose_tls_rpt: 'Rapports des échecs de chiffrement (TLS-RPT)',
  mta_sts_policy: 'Politique MTA-STS', mta_sts_policy_help: 'Servez ce fichier à {url} (HTTPS, avec un certificat valide pour ce nom).',
  dmarc_handling: 'Expéditeurs usurpés (DMARC)', dmarc_handling_choice: 'Messages qui échouent à DMARC',
  dmarc_handling_help: "Quand un message se réclame d'un expéditeur dont le domaine ne le garantit pas (aucun SPF ou DKIM aligné valide), le MX peut suivre la politique publiée par ce domaine ou toujours faire la même chose.",
  dmarc_handling_policy: "Comme le demande le domaine de l'expéditeur (refusé, indésirables ou distribué)", dmarc_handling_quarantine: 'Toujours dans le dossier Indésirables',
  dmarc_handling_reject: 'Toujours refusés', dmarc_handling_tag: 'Distribués en boîte de réception, signalés dans leurs en-têtes',
  dkim_state_active: 'Active', dkim_state_previous: 'Précédente (à laisser publiée)', dkim_state_retired: 'Retirée',
  algorithm_rsa: 'RSA', algorithm_ed25519: 'Ed25519', integration_crm: 'CRM (EspoCRM)', integration_whatsapp: 'WhatsApp',
  platform_role_superadmin: 'Opérateur de la plateforme',
  quota_users: 'Utilisateurs', quota_storage_mb: 'Stockage de messagerie (Mo)', quota_api_calls_per_month: 'Appels API par mois', quota_clients: 'Clients',
  quota_appointments_per_month: 'Rendez-vous par mois', quota_mailboxes: 'Boîtes aux lettres', quota_requests_per_minute: 'Requêtes par minute',
  quota_mail_messages_per_day: 'Messages par jour', quota_mail_messages_per_minute: 'Messages par minute',
  quota_mail_recipients_per_message: 'Destinataires par message',
  n_members_one: '{n} membre', n_members_other: '{n} membres', n_clients_one: '{n} client', n_clients_other: '{n} clients',
  n_mailboxes_one: '{n} boîte', n_mailboxes_other: '{n} boîtes', n_messages_one: '{n} message', n_messages_other: '{n} messages',
  n_mailboxes_of_one: '{used} / {limit} boîte aux lettres', n_mailboxes_of_other: '{used} / {limit} boîtes aux lettres',
  no_limit: 'sans limite', limit_near: 'Proche de la limite', limit_reached: 'Limite atteinte', never: 'jamais', close: 'Fermer', you: 'vous',
  total_tenants: 'Organisations', total_members: 'Membres', total_clients: 'Clients', total_appointments: 'Rendez-vous',
  total_mailboxes: 'Boîtes aux lettres', total_audit_entries: "Entrées du journal d'audit", tenants_by_status: 'Organisations par statut',
  relays_title: 'État des relais', relays_none: 'Aucun relais pour le moment.', relay_last_seen: 'Dernier contact', relay_never_seen: 'Jamais vu',
  relay_queue: "File d'attente", relay_oldest: 'Plus ancien en attente', relay_certificates: 'Certificats',
  certificate_expiring: 'Expire {when}', certificate_expired: 'Expiré {when}',
  accept_join: 'Rejoindre {tenant}', accept_invited: '{email} est invité(e) à rejoindre {tenant} en tant que',
  accept_invalid_help: "Demandez à la personne qui vous a invité(e) de vous envoyer une nouvelle invitation.",
  accept_new_help: 'Choisissez le mot de passe de votre nouveau compte.', password_again: 'Mot de passe (confirmation)',
  password_mismatch: 'Les deux mots de passe diffèrent : saisissez deux fois le même.',
  accept_existing_help: 'Vous avez déjà un compte ({email}) : saisissez son mot de passe pour y ajouter cette organisation.',
  accept_existing_password: 'Mot de passe de votre compte {email}',
  mail_domains: 'Domaines de messagerie', mailboxes_in_tenant: "Boîtes aux lettres de l'organisation :", establishment: 'Établissement',
  establishment_name: "Nom de l'établissement", establishment_type: "Type d'établissement", max_mailboxes_short: 'Boîtes au plus',
  max_storage_short: 'Stockage au plus', domains_none: 'Pas encore de domaine de messagerie : ajoutez-en un ci-dessous.',
  quota_of_domain: 'Le stockage du domaine ({size})', domain_storage: 'stockage du domaine : {size}', mailboxes_none: 'Pas encore de boîte aux lettres.',
  mailbox_add_to: 'Ajouter une boîte aux lettres à {domain}', app_passwords_none: "Pas encore de mot de passe d'application.",
  app_password_new: "Nouveau mot de passe d'application",
  app_password_help: 'Son usage (un logiciel de messagerie, un téléphone) : chacun se révoque seul.', selector: 'sélecteur',
  dkim_value: 'Valeur (chaînes DNS)', certificate_upload: 'Envoyer un certificat', certificate_replace: 'Remplacer le certificat',
  dkim_split_one: 'Publié en {n} chaîne DNS.',
  dkim_split_other: 'Publié en {n} chaînes DNS de 255 caractères au plus chacune, comme le DNS l’exige : collez-les telles quelles.',
  relay: 'Relais', relay_directory: "Synchronisation de l'annuaire", up_to_date: 'à jour', versions_behind_one: '{n} version de retard',
  versions_behind_other: '{n} versions de retard', members_title: 'Personnes ayant accès', accept_expires: "L'invitation est valable jusqu'au {when}.",
  mfa_title: 'Validation en deux étapes', mfa_help: "Saisissez le code à 6 chiffres que votre application d'authentification affiche pour ce compte.",
  mfa_verify: 'Valider', mfa_code: "Code de l'application", mfa_code_help: 'Six chiffres ; un nouveau code toutes les 30 secondes.',
  mfa_recovery_code: 'Code de secours', mfa_recovery_help: "L'un des codes de secours que vous avez conservés (xxxxx-xxxxx) ; chacun ne sert qu'une fois.",
  mfa_code_format: "Saisissez les six chiffres affichés par l'application.", mfa_recovery_empty: "Saisissez l'un de vos codes de secours.",
  mfa_use_recovery: 'Utiliser plutôt un code de secours', mfa_use_code: "Utiliser plutôt le code de l'application",
  mfa_invalid_code: "Ce code n'est pas le bon, ou a déjà servi : saisissez le code que l'application affiche maintenant.",
  mfa_invalid_recovery: "Ce code de secours n'est pas le bon, ou a déjà servi.",
  mfa_token_invalid: 'Cette connexion a expiré ou est déjà terminée : reconnectez-vous avec votre mot de passe.',
  mfa_too_many: 'Trop de codes erronés : reconnectez-vous avec votre mot de passe.', mfa_wait: "Attendez d'abord {seconds} s.",
  mfa_restart: 'Se reconnecter',
  mfa_required_text: "Cette organisation exige que ses membres se connectent avec deux facteurs. Configurez une application d'authentification dans votre compte : l'organisation s'ouvre dès qu'elle est confirmée.",
  mfa_required_link: 'Configurer la validation en deux étapes',
  security: 'Validation en deux étapes', mfa_off_badge: 'Désactivée', mfa_off: 'La connexion ne demande que votre mot de passe.',
  mfa_pending: "Une configuration a été commencée sans être confirmée : recommencez-la.", mfa_setup: "Configurer une application d'authentification",
  mfa_on_badge: 'Activée', mfa_on: "La connexion demande un code de votre application d'authentification (configurée le {when}).",
  mfa_enabled: "Votre application d'authentification est configurée : la connexion demande désormais son code.",
  mfa_step_scan: "Scannez ce QR code avec votre application d'authentification, ou saisissez-y la clé ci-dessous.",
  mfa_step_code: "Saisissez ensuite le code à 6 chiffres que l'application affiche, pour confirmer.",
  mfa_qr_label: "QR code à scanner avec votre application d'authentification", mfa_secret: "Clé à saisir dans l'application", mfa_confirm: 'Confirmer',
  recovery_title: 'Vos codes de secours', recovery_store_now: "Conservez ces codes maintenant, en lieu sûr : ils ne sont montrés qu'une fois.",
  recovery_explain: "Si vous perdez votre application d'authentification, chaque code vous connecte une fois à la place d'un code de l'application.",
  recovery_copy: 'Copier les codes', recovery_download: 'Télécharger les codes', recovery_stored: 'Je les ai conservés',
  recovery_file_title: "Codes de secours Tenantry (chacun ne sert qu'une fois)",
  recovery_left_one: '{n} code de secours restant.', recovery_left_other: '{n} codes de secours restants.', recovery_few: "Presque épuisés",
  recovery_new: 'Nouveaux codes de secours', recovery_new_help: "Dix nouveaux codes remplacent les actuels, qui cessent de fonctionner. Saisissez un code de l'application (ou un code de secours) pour continuer.",
  recovery_new_submit: 'Créer de nouveaux codes', mfa_disable: 'Désactiver', mfa_disable_submit: "Désactiver l'application d'authentification",
  mfa_disable_help: "La connexion ne demandera plus que votre mot de passe, et vos codes de secours cessent de fonctionner. Saisissez un code de l'application (ou un code de secours) pour continuer.",
  mfa_disabled: "L'application d'authentification est retirée : la connexion ne demande plus que votre mot de passe.",
  signed_in_with: 'Connexion par', amr_password: 'Mot de passe', amr_app: "Mot de passe + application d'authentification", amr_recovery: 'Mot de passe + code de secours',
  sign_in_security: 'Sécurité de la connexion', require_mfa: 'Exiger la connexion à deux facteurs des membres',
  require_mfa_help: "Les membres connectés avec leur seul mot de passe n'ont alors plus accès à l'organisation tant qu'ils n'ont pas configuré d'application d'authentification. Les clés API ne sont pas concernées.",
  require_mfa_self: "Vous êtes connecté(e) avec votre seul mot de passe : une fois ce choix enregistré, configurez une application d'authentification dans Mon compte pour continuer à gérer l'organisation.",
  require_mfa_on: 'Les membres doivent se connecter avec deux facteurs.', require_mfa_off: 'Les membres peuvent se connecter avec leur seul mot de passe.',
};

const DICTIONARIES = { en: EN, fr: FR };
let current = pick();

function pick() {
  let chosen = null;
  try {
    chosen = localStorage.getItem('tenantry.language');
  } catch {
    chosen = null;
  }
  const browser = (navigator.language || 'en').slice(0, 2);
  const lang = DICTIONARIES[chosen] ? chosen : DICTIONARIES[browser] ? browser : 'en';
  document.documentElement.lang = lang;
  return lang;
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!DICTIONARIES[lang]) return;
  current = lang;
  document.documentElement.lang = lang;
  try {
    localStorage.setItem('tenantry.language', lang);
  } catch {
    // a preference only
  }
}

/** The text of `key` in the current language, with `{name}` replaced from `values`. */
export function t(key, values = {}) {
  const text = DICTIONARIES[current][key] ?? EN[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

/** Whether `key` has a text (in this language or in English). */
export function has(key) {
  return key in DICTIONARIES[current] || key in EN;
}

/** A value the API spells as a code (a role, a status, a plan, a kind) in words: the text of
 * `{group}_{value}` when there is one, else the value itself (a custom role's name, say). */
export function named(group, value) {
  if (value === null || value === undefined || value === '') return '—';
  const key = `${group}_${value}`;
  return has(key) ? t(key) : String(value);
}

/** The locale numbers and dates are written in: day-month-year in both languages. */
export function locale() {
  return current === 'fr' ? 'fr-FR' : 'en-GB';
}

/** A count with the language's separators (100,000; 100 000). */
export function formatNumber(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return n === null || n === undefined ? '—' : String(n);
  return new Intl.NumberFormat(locale()).format(n);
}

/** `{key}_one` or `{key}_other`, as the language's plural rules choose for `n`, with `{n}`. */
export function plural(key, n, values = {}) {
  const form = new Intl.PluralRules(locale()).select(n);
  const chosen = has(`${key}_${form}`) ? `${key}_${form}` : `${key}_other`;
  return t(chosen, { n: formatNumber(n), ...values });
}

/** A size given in MB, in MB, GB or TB (10240 MB is 10 GB; 10 Go in French). */
export function formatMegabytes(mb) {
  if (typeof mb !== 'number' || !Number.isFinite(mb)) return '—';
  let [value, unit] = [mb, 'megabyte'];
  if (Math.abs(mb) >= 1024 * 1024) [value, unit] = [mb / (1024 * 1024), 'terabyte'];
  else if (Math.abs(mb) >= 1024) [value, unit] = [mb / 1024, 'gigabyte'];
  return new Intl.NumberFormat(locale(), { style: 'unit', unit, maximumFractionDigits: 1 }).format(value);
}

/** A share (0.8) as a percentage in the language's way (80%, 80 %). */
export function formatPercent(ratio) {
  return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 0 }).format(ratio);
}

/** A day, unambiguous in both languages: 7 Dec 2026, 7 déc. 2026. */
export function formatDate(seconds) {
  if (!seconds) return '—';
  return new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'short', year: 'numeric' }).format(new Date(seconds * 1000));
}

/** A moment: the day as formatDate writes it and the time (24 h). */
export function formatDateTime(seconds) {
  if (!seconds) return '—';
  return new Intl.DateTimeFormat(locale(), {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
  }).format(new Date(seconds * 1000));
}

function unitOf(seconds) {
  const abs = Math.abs(seconds);
  if (abs < 60) return [Math.round(seconds), 'second'];
  if (abs < 3600) return [Math.round(seconds / 60), 'minute'];
  if (abs < 86400) return [Math.round(seconds / 3600), 'hour'];
  return [Math.round(seconds / 86400), 'day'];
}

/** How far a moment is from now: "3 minutes ago", "in 5 days". */
export function formatRelative(seconds, now = Date.now() / 1000) {
  if (!seconds) return '—';
  const [value, unit] = unitOf(seconds - now);
  return new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' }).format(value, unit);
}

/** A length of time: "12 min", "3 h", "2 days". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const [value, unit] = unitOf(Math.max(0, seconds));
  return new Intl.NumberFormat(locale(), { style: 'unit', unit, unitDisplay: unit === 'day' ? 'long' : 'short' }).format(value);
}
