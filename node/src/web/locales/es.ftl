# Aplicación web de Weft: español

app-name = Weft
back = Volver
save = Guardar

## Navegación
nav-label = Principal
nav-chats = Chats
nav-contacts = Contactos
nav-moments = Momentos
nav-subscriptions = Suscripciones
nav-nearby = Cerca
nav-me = Yo
live-reconnecting = Sin conexión: reconectando…

## Chats
chats-title = Chats
chats-empty = Aún no hay conversaciones. Añade un contacto para empezar a chatear.
chats-members = { $count } miembros
chats-unread = { $count } sin leer
conv-empty = Aún no hay mensajes. ¡Saluda!
conv-replying = Respondiendo a
conv-cancel-reply = Cancelar
composer-label = Mensaje
composer-send = Enviar
composer-emoji = Emoji
msg-recalled = Este mensaje fue retirado.
msg-recall = Retirar
msg-reply = Responder
status-sending = Enviando
status-stored = Enviado
status-sent = Enviado
status-delivered = Entregado
status-read = Leído
status-failed = No enviado

## Contactos
contacts-title = Contactos
contacts-requests = Solicitudes de amistad
contacts-accept = Aceptar
contacts-reject = Rechazar
contacts-list = Amigos
contacts-empty = Aún no tienes contactos.
contacts-more = Más
contacts-remark = Alias
contacts-block = Bloquear
contacts-unblock = Desbloquear
contacts-add = Añadir un contacto
contacts-add-target = Usuario, enlace o id de cuenta
contacts-greeting = Saludo
contacts-add-send = Enviar solicitud
contacts-scan = Escanear un código QR (una foto o captura)
contacts-scan-none = No hay ningún código QR en esa imagen.
contacts-scan-not-weft = Ese código QR no es un contacto de Weft.
contacts-my-qr = Mi código QR
contacts-my-qr-alt = Código QR de mi enlace de Weft
contact-friend = Amigo
contact-request-sent = Solicitud enviada
contact-request-received = Quiere ser tu amigo
contact-blocked = Bloqueado

## Momentos
moments-title = Momentos
moments-empty = Aún no hay publicaciones.
moments-image = Imagen { $n }
moments-likes = { $count ->
    [one] 1 me gusta
   *[other] { $count } me gusta
}
moments-like = Me gusta
moments-unlike = Ya no me gusta
moments-comment = Comentar
moments-comment-label = Escribe un comentario
moments-new = Nueva publicación
moments-text = ¿Qué estás pensando?
moments-audience = Quién puede verlo
moments-audience-all = Todos mis amigos
moments-audience-only = Solo…
moments-audience-except = Todos menos…
moments-who = Amigos o etiquetas, separados por comas
moments-post = Publicar
moments-photos = Fotos
moments-too-many = Una publicación admite como máximo { $n } fotos.

## Cuentas oficiales
oa-title = Suscripciones
oa-no-posts = Aún no hay publicaciones.
oa-following = Siguiendo
oa-none-followed = Aún no sigues ninguna cuenta oficial.
oa-results = Resultados
oa-nothing-found = No se encontró ninguna cuenta oficial.
oa-search-label = Buscar cuentas oficiales
oa-search = Buscar
oa-follow = Seguir
oa-unfollow = Dejar de seguir
oa-verified = Verificada
oa-unknown = No sigues ni administras esta cuenta.
oa-ask-label = Haz una pregunta
oa-ask = Preguntar

## Cerca
nearby-title = Personas cerca
nearby-on = Tu radar está activado; las personas cercanas te ven hasta las
nearby-off = Tu radar está desactivado: nadie cerca te ve.
nearby-empty = No hay nadie cerca ahora mismo.
nearby-distance = a unos { $metres } m
nearby-via-lan = en tu red
nearby-via-dht = en tu zona
nearby-add = Añadir
nearby-region = Región
nearby-turn-on = Activar el radar
nearby-turn-off = Desactivar el radar

## Yo
me-title = Yo
me-profile = Perfil
me-name = Nombre
me-whats-up = Estado
me-account = Id de cuenta
me-handle = Usuario
me-no-handle = ninguno todavía
me-handle-claim = Reservar un usuario
me-handle-button = Reservar
me-devices = Dispositivos
me-device-this = (este dispositivo)
me-device-first = (primer dispositivo)
me-restart-needed = Tu nuevo nombre se verá cuando el nodo se reinicie.
me-settings = Ajustes
me-auto-download = Descargar solos los adjuntos de hasta (MB)
me-moments-days = Mis amigos ven mis Momentos de los últimos (días; 0: todos)
me-language = Idioma
me-language-auto = El que pida el navegador
me-language-pseudo = Pseudolocale (para pruebas)
me-language-unknown = Ese idioma no está disponible.

## Errores
error-failed = No se pudo hacer
error-host = Rechazado: esta dirección no es la que sirve tu nodo de Weft.
error-origin = Rechazado: la petición no vino de esta aplicación.
error-no-session = No has iniciado sesión. Ejecuta `weft open` y abre el enlace que muestra.
error-signin-expired = Este enlace de inicio de sesión ya se usó o caducó. Ejecuta `weft open` de nuevo.
error-not-found = Aquí no hay nada.

## Adjuntos
composer-attach = Foto o archivo
composer-record = Grabar una nota de voz
composer-stop = Detener y enviar
composer-uploading = Enviando el archivo
file-too-large = El navegador envía archivos de hasta { $mb } MB; envía los más grandes con `weft chat send --file`.
file-size-mb = { $n } MB
file-size-kb = { $n } KB
file-download = Descargar
file-progress = Progreso de la descarga
