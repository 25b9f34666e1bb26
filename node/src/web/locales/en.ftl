# Weft web app: English (the fallback for every other language).
# One message per line: `key = text`. `{ $name }` is filled in by the app.

app-name = Weft
back = Back
save = Save

## Navigation
nav-label = Main
nav-chats = Chats
nav-contacts = Contacts
nav-moments = Moments
nav-subscriptions = Subscriptions
nav-nearby = Nearby
nav-me = Me
live-reconnecting = Offline: reconnecting…

## Chats
chats-title = Chats
chats-empty = No conversations yet. Add a contact to start chatting.
chats-members = { $count } members
chats-unread = { $count } unread
conv-empty = No messages yet. Say hello!
conv-replying = Replying to
conv-cancel-reply = Cancel
composer-label = Message
composer-send = Send
composer-emoji = Emoji
msg-recalled = This message was recalled.
msg-recall = Recall
msg-reply = Reply
status-sending = Sending
status-stored = Sent
status-sent = Sent
status-delivered = Delivered
status-read = Read
status-failed = Not sent

## Contacts
contacts-title = Contacts
contacts-requests = Friend requests
contacts-accept = Accept
contacts-reject = Reject
contacts-list = Friends
contacts-empty = No contacts yet.
contacts-more = More
contacts-remark = Remark
contacts-block = Block
contacts-unblock = Unblock
contacts-add = Add a contact
contacts-add-target = Handle, link or account id
contacts-greeting = Greeting
contacts-add-send = Send request
contacts-scan = Scan a QR code (a photo or screenshot of it)
contacts-scan-none = No QR code found in that picture.
contacts-scan-not-weft = That QR code is not a Weft contact.
contacts-my-qr = My QR code
contacts-my-qr-alt = QR code of my Weft link
contact-friend = Friend
contact-request-sent = Request sent
contact-request-received = Wants to be friends
contact-blocked = Blocked

## Moments
moments-title = Moments
moments-empty = No posts yet.
moments-image = Picture { $n }
moments-likes = { $count ->
    [one] 1 like
   *[other] { $count } likes
}
moments-like = Like
moments-unlike = Unlike
moments-comment = Comment
moments-comment-label = Write a comment
moments-new = New post
moments-text = What's on your mind?
moments-audience = Who can see it
moments-audience-all = All friends
moments-audience-only = Only…
moments-audience-except = All except…
moments-who = Friends or tags, separated by commas
moments-post = Post
moments-photos = Photos
moments-too-many = A post holds at most { $n } photos.

## Official accounts
oa-title = Subscriptions
oa-no-posts = No posts yet.
oa-following = Following
oa-none-followed = You follow no official accounts yet.
oa-results = Search results
oa-nothing-found = No official account found.
oa-search-label = Search official accounts
oa-search = Search
oa-follow = Follow
oa-unfollow = Unfollow
oa-verified = Verified
oa-unknown = You neither follow nor run this account.
oa-ask-label = Ask a question
oa-ask = Ask

## Nearby
nearby-title = People Nearby
nearby-on = Your radar is on; others nearby see you until
nearby-off = Your radar is off: nobody nearby sees you.
nearby-empty = Nobody nearby right now.
nearby-distance = about { $metres } m away
nearby-via-lan = on your network
nearby-via-dht = in your area
nearby-add = Add
nearby-region = Region
nearby-turn-on = Turn the radar on
nearby-turn-off = Turn the radar off

## Me
me-title = Me
me-profile = Profile
me-name = Name
me-whats-up = What's up
me-account = Account id
me-handle = Handle
me-no-handle = none yet
me-handle-claim = Claim a handle
me-handle-button = Claim
me-devices = Devices
me-device-this = (this device)
me-device-first = (first device)
me-restart-needed = Your new name shows after the node restarts.
me-settings = Settings
me-auto-download = Download attachments by themselves up to (MB)
me-moments-days = Friends see my Moments of the last (days; 0: all)
me-language = Language
me-language-auto = As the browser asks
me-language-pseudo = Pseudo-locale (for testing)
me-language-unknown = That language is not available.

## Errors
error-failed = That did not work
error-host = Refused: this address is not the one your Weft node serves.
error-origin = Refused: the request did not come from this app.
error-no-session = Not signed in. Run `weft open` and follow the link it prints.
error-signin-expired = This sign-in link was used already or has expired. Run `weft open` again.
error-not-found = There is nothing here.

## Attachments
composer-attach = Photo or file
composer-record = Record a voice note
composer-stop = Stop and send
composer-uploading = Sending the file
file-too-large = The browser sends files up to { $mb } MB; send larger ones with `weft chat send --file`.
file-size-mb = { $n } MB
file-size-kb = { $n } KB
file-download = Download
file-progress = Download progress
