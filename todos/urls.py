from rest_framework.routers import SimpleRouter

from todos.views import TaskViewSet

app_name = "todos"

router = SimpleRouter()
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = router.urls
