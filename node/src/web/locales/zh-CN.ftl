# Weft 网页版：简体中文

app-name = Weft
back = 返回
save = 保存

## 导航
nav-label = 主菜单
nav-chats = 聊天
nav-contacts = 通讯录
nav-moments = 朋友圈
nav-subscriptions = 订阅号
nav-nearby = 附近
nav-me = 我
live-reconnecting = 已离线：正在重新连接…

## 聊天
chats-title = 聊天
chats-empty = 还没有会话。添加联系人即可开始聊天。
chats-members = { $count } 位成员
chats-unread = { $count } 条未读
conv-empty = 还没有消息。打个招呼吧！
conv-replying = 回复
conv-cancel-reply = 取消
composer-label = 消息
composer-send = 发送
composer-emoji = 表情
msg-recalled = 此消息已撤回。
msg-recall = 撤回
msg-reply = 回复
status-sending = 发送中
status-stored = 已发送
status-sent = 已发送
status-delivered = 已送达
status-read = 已读
status-failed = 未发送

## 通讯录
contacts-title = 通讯录
contacts-requests = 好友申请
contacts-accept = 接受
contacts-reject = 拒绝
contacts-list = 好友
contacts-empty = 还没有联系人。
contacts-more = 更多
contacts-remark = 备注
contacts-block = 拉黑
contacts-unblock = 取消拉黑
contacts-add = 添加联系人
contacts-add-target = 账号名、链接或账号 ID
contacts-greeting = 招呼语
contacts-add-send = 发送申请
contacts-scan = 扫描二维码（拍照或截图）
contacts-scan-none = 图片中没有找到二维码。
contacts-scan-not-weft = 这不是 Weft 联系人的二维码。
contacts-my-qr = 我的二维码
contacts-my-qr-alt = 我的 Weft 链接二维码
contact-friend = 好友
contact-request-sent = 已发送申请
contact-request-received = 想加你为好友
contact-blocked = 已拉黑

## 朋友圈
moments-title = 朋友圈
moments-empty = 还没有动态。
moments-image = 第 { $n } 张图片
moments-likes = { $count } 个赞
moments-like = 赞
moments-unlike = 取消赞
moments-comment = 评论
moments-comment-label = 写评论
moments-new = 发表动态
moments-text = 这一刻的想法……
moments-audience = 谁可以看
moments-audience-all = 所有好友
moments-audience-only = 部分可见…
moments-audience-except = 不给谁看…
moments-who = 好友或标签，用逗号分隔
moments-post = 发表
moments-photos = 图片
moments-too-many = 一条动态最多 { $n } 张图片。

## 公众号
oa-title = 订阅号
oa-no-posts = 还没有文章。
oa-following = 已关注
oa-none-followed = 你还没有关注任何公众号。
oa-results = 搜索结果
oa-nothing-found = 没有找到公众号。
oa-search-label = 搜索公众号
oa-search = 搜索
oa-follow = 关注
oa-unfollow = 取消关注
oa-verified = 已认证
oa-unknown = 你没有关注也没有运营这个公众号。
oa-ask-label = 提问
oa-ask = 发送

## 附近
nearby-title = 附近的人
nearby-on = 雷达已开启；附近的人可以看到你，直到
nearby-off = 雷达已关闭：附近的人看不到你。
nearby-empty = 附近暂时没有人。
nearby-distance = 约 { $metres } 米
nearby-via-lan = 在你的网络中
nearby-via-dht = 在你附近
nearby-add = 添加
nearby-region = 地区
nearby-turn-on = 开启雷达
nearby-turn-off = 关闭雷达

## 我
me-title = 我
me-profile = 个人信息
me-name = 名字
me-whats-up = 个性签名
me-account = 账号 ID
me-handle = 账号名
me-no-handle = 尚未设置
me-handle-claim = 设置账号名
me-handle-button = 设置
me-devices = 设备
me-device-this = （本设备）
me-device-first = （主设备）
me-restart-needed = 新名字将在节点重启后显示。
me-settings = 设置
me-auto-download = 自动下载不超过此大小的附件（MB）
me-moments-days = 朋友可以看到我最近几天的朋友圈（天；0 为全部）
me-language = 语言
me-language-auto = 跟随浏览器
me-language-pseudo = 伪语言（用于测试）
me-language-unknown = 不支持该语言。

## 错误
error-failed = 操作失败
error-host = 已拒绝：该地址不是你的 Weft 节点提供服务的地址。
error-origin = 已拒绝：请求并非来自本应用。
error-no-session = 尚未登录。运行 `weft open` 并打开它显示的链接。
error-signin-expired = 此登录链接已被使用或已过期。请重新运行 `weft open`。
error-not-found = 这里什么都没有。

## 附件
composer-attach = 图片或文件
composer-record = 录制语音
composer-stop = 停止并发送
composer-uploading = 正在发送文件
file-too-large = 浏览器最多发送 { $mb } MB 的文件；更大的文件请用 `weft chat send --file` 发送。
file-size-mb = { $n } MB
file-size-kb = { $n } KB
file-download = 下载
file-progress = 下载进度
